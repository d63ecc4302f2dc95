"""The Train step: the settings and their rules, batches, packing, the loss, the loop, checkpoints and
resume, and training on several Macs as one group.
"""
