"""One module per command of the CLI; reading inputs and writing outputs happen here."""
