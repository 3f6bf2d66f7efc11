"""Running exported artifacts on the host: interpreter loading, evaluation, benchmark."""
