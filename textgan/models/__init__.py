"""The paper's conv ResNet generator and critic."""
