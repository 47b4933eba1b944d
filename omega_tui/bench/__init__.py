"""`omega-tui bench`: what the console costs the stores, the CPU and the terminal.

Not imported by the console itself. The naive poller in naive_poller.py is
the baseline the real poller is compared with, and exists only here.
"""
