"""The storage engine: every user's memories, durable in Chroma and served from memory.

``store`` is the one class the rest of the gateway talks to (``MemoryStore``). Beneath it:
``backend`` (the interface of the durable copy), ``chroma`` (that copy in Chroma) and ``child``
(Chroma in a process of its own), ``index`` and ``lexical`` (a user's vectors and BM25 postings,
loaded on first use), ``ranking`` (how a hit is scored), ``snapshots`` (indexes saved to disk,
trusted by generation), ``codec`` and ``records`` (what a memory is, and how it is stored),
``embedding`` and ``quantized`` (text to vectors).
"""
