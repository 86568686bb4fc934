"""Keras-style identifiers shared by ``regularizers`` and ``constraints``: None, an instance, a class, a
registered name or Keras's serialized dict, resolved against one module's classes."""

NOT_FOUND = object()


def resolve(identifier, base, classes):
    """The object ``identifier`` names, or NOT_FOUND (the caller says why it cannot use it)."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, str) and identifier in classes:
        return classes[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in classes:
        return classes[identifier["class_name"]].from_config(dict(identifier.get("config") or {}))
    return NOT_FOUND


def serialize(obj, module):
    """Keras 3's serialized form: module, class_name, config, registered_name (None stays None)."""
    if obj is None:
        return None
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}
