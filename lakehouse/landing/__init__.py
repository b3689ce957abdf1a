"""The landing folder: the system's input contract, and a generator of realistic sample feeds."""
