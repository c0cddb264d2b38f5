"""The HTTP service: a GraphQL API (graphene on starlette, via graphql-server), SPARQL, the ontology file."""
