"""The REST interface of the domain: views, serializers, authentication and error rendering."""
