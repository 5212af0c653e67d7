"""The authoring API: Service, endpoint and Resources, introspected into a ServiceDefinition."""
