"""Training on several Macs as one group: the hosts a person names and their checks, the agent that answers on each
other Mac, the readiness of all of them, and the launcher that starts and watches the group.
"""
