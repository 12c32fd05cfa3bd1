"""What of an exchange is journaled for learning: the new user turns, some context, the reply."""

from __future__ import annotations

from gateway.learning.transcript import (
    MAX_EARLIER,
    MAX_NEW_TURNS,
    MAX_REPLY_CHARS,
    MAX_TURN_CHARS,
    Transcript,
    scrubbed,
    transcript_of,
)

SYSTEM = {"role": "system", "content": "You are AcmeBot. Internal discount code: ZEBRA-42."}


def test_only_the_turns_after_the_last_assistant_message_are_new() -> None:
    messages = [
        SYSTEM,
        {"role": "user", "content": "I live in Berlin."},
        {"role": "assistant", "content": "Nice city!"},
        {"role": "user", "content": "I also have a dog."},
        {"role": "user", "content": [{"type": "text", "text": "His name is Rex."}]},
    ]
    transcript = transcript_of(messages, "Hello Rex!")
    assert transcript is not None
    assert transcript.new == ("I also have a dog.", "His name is Rex.")
    assert transcript.earlier == (("user", "I live in Berlin."), ("assistant", "Nice city!"))
    assert transcript.reply == "Hello Rex!"


def test_system_developer_and_tool_messages_never_travel() -> None:
    messages = [
        SYSTEM,
        {"role": "developer", "content": "Secret developer notes."},
        {"role": "user", "content": "What's the weather?"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "22 degrees, tool output"},
        {"role": "user", "content": "I prefer Celsius."},
    ]
    transcript = transcript_of(messages, "Noted.")
    assert transcript is not None
    encoded = transcript.encode().decode()
    for hidden in ("ZEBRA-42", "Secret developer", "tool output"):
        assert hidden not in encoded
    assert transcript.new == ("I prefer Celsius.",)


def test_nothing_new_from_the_user_means_no_job() -> None:
    assert transcript_of([SYSTEM], "Hi") is None
    assert transcript_of([{"role": "user", "content": "  "}], "Hi") is None
    assert transcript_of([{"role": "user", "content": "x"}, {"role": "assistant"}], "Hi") is None


def test_sizes_are_bounded() -> None:
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "e" * 5000} for i in range(20)
    ]
    new = [{"role": "user", "content": f"{i}" + "n" * 9000} for i in range(10)]
    transcript = transcript_of(history + new, "r" * 10_000)
    assert transcript is not None
    assert len(transcript.new) == MAX_NEW_TURNS
    assert transcript.new[-1].startswith("9")  # the latest turns are the ones kept
    assert all(len(turn) == MAX_TURN_CHARS for turn in transcript.new)
    assert len(transcript.earlier) == MAX_EARLIER
    assert len(transcript.reply) == MAX_REPLY_CHARS
    assert len(transcript.encode()) < 25_000


def test_round_trip_and_scrubbing() -> None:
    transcript = Transcript(
        new=("Mail me at ana@example.com",),
        earlier=(("user", "my card is 4111 1111 1111 1111"),),
        reply="Sure, ana@example.com.",
    )
    assert Transcript.decode(transcript.encode()) == transcript
    clean = scrubbed(transcript)
    assert clean.new == ("Mail me at [email]",)
    assert clean.earlier == (("user", "my card is [card]"),)
    assert clean.reply == "Sure, [email]."
