"""The knowledge base: articles, categories and tags, search in any language, ticket links."""
