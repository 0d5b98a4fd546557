"""SACCOs: member accounts reached by a core-banking API or by CSV file exchange.

``registry`` says which SACCOs exist and how each is reached; ``api`` builds and parses the
Fineract-shaped API calls; ``files`` writes and checks the batch and result CSV files;
``outbox`` is the channel for those files (local folder now, SFTP later) and ``journal`` our own
durable record of them; ``simulator`` plays both kinds of SACCO for tests, demo and sandbox.
"""
