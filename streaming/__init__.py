"""The streaming job: Kafka playlist events -> validated, newest-per-pid vectors -> MongoDB."""
