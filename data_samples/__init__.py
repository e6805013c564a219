"""riskloop's simulated city: departmental raw tables and ground truth (see data_samples/README.md).

`data_samples.city.generate_city` writes a city; `data_samples/sample/` holds a small CSV excerpt.
Nothing here imports the rest of riskloop: the CLI (`riskloop generate`) calls into it.
"""
