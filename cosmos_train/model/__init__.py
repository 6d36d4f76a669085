"""Video2World diffusion models, their configs, noise processes, conditioner and samplers."""
