"""The customer-service department of a property-management company: roles, registers, KPIs."""
