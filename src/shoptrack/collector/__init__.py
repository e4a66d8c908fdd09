"""The HTTP entry for tracker and REST events: parse, normalize, validate, enrich, append."""
