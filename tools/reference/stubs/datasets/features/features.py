"""`register_feature`: upstream registers a training-data feature type with it; inference never reads one."""


def register_feature(feature_cls: type, feature_type: str) -> None:
    del feature_cls, feature_type
