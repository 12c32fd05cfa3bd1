"""The user profile: how answers are shaped for each user, not only what the model knows.

``model`` defines the fields and their states; ``store`` keeps one profile per user in Chroma,
beside the user's memories and with the same isolation; ``inference`` reads signals from a
user's own turns; ``evidence`` decides when those signals change a field; ``render`` turns the
profile into directive sentences; ``summary`` writes the gist of a user whose memories outgrow
the budget; ``upcoming`` finds memories due soon.
"""
