"""yieldflow: crop-yield prediction from farm sensors, orchestrated by Prefect."""

__version__ = "0.1.0"
