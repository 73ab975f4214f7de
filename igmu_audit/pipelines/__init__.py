"""Loading, fingerprinting and running the diffusion pipelines under audit."""
