"""The HTTP service: a GraphQL API (graphene on starlette), SPARQL, the ontology file, CDS Hooks and FHIR value sets."""
