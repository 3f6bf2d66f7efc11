"""Model builders (tf_keras) and the registry that names them."""
