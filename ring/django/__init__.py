"""Django sessions kept by the ring: `SESSION_ENGINE = "ring.django.sessions"` (see that module)."""
