"""The container image, built with buildah and run (CHAINFSM_IMAGE_TEST=1; marked ``runtime``)."""
