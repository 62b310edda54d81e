"""Converters from other BPMN dialects to this product's extensions."""
