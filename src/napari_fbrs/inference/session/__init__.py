"""The interactive session: the one owner of the object being segmented.

The session itself, its undo history, the paint plan that finishes an object and the checks
made at Finish.
"""
