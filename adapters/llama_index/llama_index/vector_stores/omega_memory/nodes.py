"""How a LlamaIndex node is stored as a memory, and rebuilt from one.

A node becomes one memory: its id is the node id, its text the node's content (without metadata),
its vector the node's embedding. Its metadata is what LlamaIndex's own
:func:`~llama_index.core.vector_stores.utils.node_to_metadata_dict` makes of the node, as in the
other LlamaIndex vector stores: the user's metadata keys at the top level (so filters address
them directly), the whole node serialised under ``_node_content`` (so it is rebuilt exactly), and
``ref_doc_id`` / ``doc_id`` / ``document_id``. This module adds ``_node_id``, so that a query can be
restricted to node ids inside the index's own filter.

Example::

    >>> from llama_index.core.schema import TextNode
    >>> write = to_write(TextNode(id_="n1", text="green tea", metadata={"topic": "tea"}, embedding=[1.0, 0.0]))
    >>> write.text, write.metadata["topic"], write.metadata[NODE_ID_KEY]
    ('green tea', 'tea', 'n1')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from omega_memory_plugin import MemoryRecord
from omega_memory_plugin.errors import InvalidInputError, InvalidVectorError
from omega_memory_plugin.staging import DEFAULT_VECTOR
from omega_memory_plugin.validation import check_metadata

NODE_ID_KEY = "_node_id"
NODE_CONTENT_KEY = "_node_content"  # written by node_to_metadata_dict
REF_DOC_ID_KEY = "ref_doc_id"  # written by node_to_metadata_dict ("None" for a node without a document)
# A memory needs some text, and an IndexNode or ImageNode often has none. Such a node keeps its
# (blank) text inside _node_content, and this flag says the memory's text is only a stand-in.
TEXT_IN_CONTENT_KEY = "_text_in_node_content"


@dataclass(frozen=True, slots=True)
class NodeWrite:
    """One node, checked and laid out as the arguments of a memory upsert."""

    id: str
    text: str
    vector: list[float]
    metadata: dict[str, Any]


def to_write(node: BaseNode) -> NodeWrite:
    """Lay a node out as a memory; raise naming the node if it cannot be stored."""
    if not isinstance(node, BaseNode):
        raise InvalidInputError(f"expected LlamaIndex nodes, got {type(node).__name__}")
    if node.embedding is None:
        raise InvalidVectorError(
            f"node {node.node_id!r} has no embedding; embed nodes before adding them (VectorStoreIndex "
            "and an IngestionPipeline with an embed model do), or set node.embedding"
        )
    # The node's own metadata is checked by the core before LlamaIndex serialises the node into
    # _node_content, where a NaN would silently become null and a lone surrogate would be escaped.
    try:
        check_metadata(node.metadata)
    except InvalidInputError as exc:
        raise type(exc)(f"node {node.node_id!r}: {exc}") from exc
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    blank = not text.strip()
    metadata = node_to_metadata_dict(node, remove_text=not blank, flat_metadata=False)
    metadata[NODE_ID_KEY] = node.node_id
    if blank:
        metadata[TEXT_IN_CONTENT_KEY] = True
        text = f"({node.class_name()} {node.node_id} without text)"
    return NodeWrite(node.node_id, text, node.embedding, metadata)


def to_node(record: MemoryRecord) -> BaseNode:
    """The node a memory was written from, or a TextNode for a memory written another way; with
    its embedding when the record carries its vectors."""
    metadata = record.metadata
    if NODE_CONTENT_KEY not in metadata:
        # Written through Memory.upsert or another adapter: still readable, as plain text.
        node: BaseNode = TextNode(id_=record.id, text=record.text, metadata=dict(metadata))
    else:
        node = metadata_dict_to_node(metadata, text=None if metadata.get(TEXT_IN_CONTENT_KEY) else record.text)
    if record.vectors is not None and DEFAULT_VECTOR in record.vectors:
        node.embedding = list(record.vectors[DEFAULT_VECTOR])
    return node
