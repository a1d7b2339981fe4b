"""The device plugin's errors::

KubemigError
└── DevicePluginError      the plugin cannot start or serve: bad flags or config file, a socket
    │                      it cannot create, the kubelet refusing its registration
    └── ConfigError        a flag, environment variable or config-file value that is not valid;
                           the message names the setting, the value and the valid choices
"""

from __future__ import annotations

from kubemig.errors import KubemigError


class DevicePluginError(KubemigError):
    pass


class ConfigError(DevicePluginError):
    pass
