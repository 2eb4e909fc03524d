"""The Interpeople web server, its routes and the command line."""
