"""The REST API of a document's body, history and presence: views, selectors, services."""
