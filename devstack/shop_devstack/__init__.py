"""The embedded AWS for laptops and CI. Never packaged into a service: it plays AWS's part only."""
