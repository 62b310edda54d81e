"""Task forms: the model, the strict pf:form parser, coercion, validation and descriptions."""
