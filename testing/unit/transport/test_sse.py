from pytest_ascend_oss.transport.sse import SSEParser

STREAM = b'data: {"a": 1}\n\n: keep-alive\n\nevent: error\ndata: {"error": 2}\n\ndata: [DONE]\n\n'


def parse_in_pieces(data: bytes, size: int):
    parser, events = SSEParser(), []
    for i in range(0, len(data), size):
        events += parser.feed(data[i:i + size], received_ns=i)
    return events


def test_whole_and_split_reads_give_the_same_events():
    for size in (1, 2, 3, 7, len(STREAM)):
        events = parse_in_pieces(STREAM, size)
        assert [e.data for e in events] == ['{"a": 1}', '{"error": 2}', "[DONE]"], size
        assert events[1].event == "error" and events[-1].done


def test_crlf_and_cr_line_ends_even_when_split():
    crlf = STREAM.replace(b"\n", b"\r\n")
    for size in (1, 5, len(crlf)):
        assert parse_in_pieces(crlf, size)[0].data == '{"a": 1}'
    cr = STREAM.replace(b"\n", b"\r")
    assert len(parse_in_pieces(cr, 4)) == 3


def test_event_is_stamped_with_the_read_that_completed_it():
    parser = SSEParser()
    assert parser.feed(b'data: {"x"', received_ns=5) == []
    (event,) = parser.feed(b": 1}\n\n", received_ns=9)
    assert event.received_ns == 9 and event.json() == {"x": 1}


def test_multiline_data_is_joined():
    (event,) = SSEParser().feed(b"data: a\ndata: b\n\n")
    assert event.data == "a\nb"


def test_multibyte_characters_split_at_every_byte_survive():
    """A CJK answer arrives in arbitrary network reads: a character's three UTF-8 bytes may be
    split across two of them, at any byte."""
    text = "法国的首都是巴黎。🙂"
    raw = f'data: {{"text": "{text}"}}\n\n'.encode()
    for cut in range(1, len(raw)):
        parser = SSEParser()
        events = parser.feed(raw[:cut], 1) + parser.feed(raw[cut:], 2)
        assert [e.json()["text"] for e in events] == [text], f"split at byte {cut}"


def test_one_whole_event_per_read_takes_the_fast_path_with_the_same_result():
    parser = SSEParser()
    assert parser.feed(b"event: error\n", 1) == []  # a field waiting for its event...
    (event,) = parser.feed(b'data: {"a": 1}\n\n', 2)  # ...is not lost to the fast path
    assert (event.data, event.event, event.received_ns) == ('{"a": 1}', "error", 2)
    (plain,) = parser.feed(b'data: {"b": 2}\n\n', 3)
    assert (plain.data, plain.event) == ('{"b": 2}', None)
    assert [e.data for e in parser.feed(b"data: x\n\ndata: y\n\n", 4)] == ["x", "y"]
