"""The REST API for app-passwords (Django REST framework), versioned in the path: /api/v1/."""
