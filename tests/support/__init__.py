"""What the suite's tests share: servers, clients, factories and waits, one module each."""
