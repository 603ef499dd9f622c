"""Property tests of every parser of untrusted input (issue 15); ``nox -s fuzz`` runs more."""
