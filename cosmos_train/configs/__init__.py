"""Config groups and ``make_config()`` for cosmos_train (the Hydra ConfigStore replacement).

One module per group registers that group's options into lazycfg's default registry when it is
first imported; :func:`cosmos_train.configs.base.make_config` imports them all. Importing this
package imports nothing heavy (no torch).
"""
