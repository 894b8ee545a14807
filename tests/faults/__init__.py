"""The fault suite: SIGKILLed clients and servers, concurrent writers (issue 17)."""
