"""AWS credentials kept in the OS keyring (Secret Service, macOS Keychain, Windows Credential Manager).

``entry``: what one saved entry holds; ``store``: the keyring items; ``provider``: a botocore
credential provider, so saved keys reach signing only through botocore's chain; ``check``: one signed
ListStreams call that says whether a key pair works; ``cli``: ``kvs-studio credentials``.
"""
