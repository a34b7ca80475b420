"""What is claimed: the paper's claims C1..C7 as data (`registry`)."""
