"""An LCEL RAG chain (retriever | format_docs | prompt | fake chat model) over a real corpus
with the real MiniLM embeddings: invoke, ainvoke and astream, and hybrid top-4 contexts
that contain the answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from milvus_rag.integrations.langchain import MilvusVectorStore
from milvus_rag.retrievers.langchain import HybridRetriever
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CORPUS = [
    "The Eiffel Tower in Paris was completed in 1889 for the World's Fair and is about 330 "
    "metres tall. It was designed by the company of the engineer Gustave Eiffel.",
    "Photosynthesis is the process by which green plants use sunlight, water and carbon "
    "dioxide to make glucose, releasing oxygen as a by-product in their chloroplasts.",
    "The Great Barrier Reef, off the coast of Queensland in Australia, is the largest coral "
    "reef system in the world, stretching for over 2,300 kilometres.",
    "Marie Curie was the first person to win Nobel Prizes in two different sciences: "
    "physics in 1903 and chemistry in 1911, for her research on radioactivity.",
    "The Python programming language was created by Guido van Rossum and first released in "
    "1991. Its name comes from the comedy group Monty Python.",
    "Mount Everest, on the border between Nepal and China, is the highest mountain above sea "
    "level at 8,849 metres. It was first summited in 1953 by Tenzing Norgay and Edmund "
    "Hillary.",
    "The human heart has four chambers: two atria and two ventricles. It pumps blood through "
    "the body about 100,000 times a day.",
    "The Amazon rainforest covers much of the Amazon basin in South America and produces a "
    "large share of the planet's oxygen; most of it lies in Brazil.",
    "Honey bees communicate the direction and distance of flowers to their hive mates with "
    "a movement called the waggle dance.",
    "The speed of light in a vacuum is about 299,792 kilometres per second, a universal "
    "constant denoted by the letter c.",
    "William Shakespeare wrote the tragedy Hamlet around 1600. The play is set in Denmark "
    "and follows Prince Hamlet's revenge on his uncle Claudius.",
    "Espresso is a concentrated coffee made by forcing hot water through finely ground "
    "coffee beans under about nine bars of pressure.",
    "The Great Wall of China was built over many centuries to protect Chinese states from "
    "nomadic invasions; the best-known sections date from the Ming dynasty.",
    "Jupiter is the largest planet in the solar system. It is a gas giant with a Great Red "
    "Spot, a storm larger than the Earth, and dozens of moons including Ganymede.",
    "Penicillin, the first widely used antibiotic, was discovered by Alexander Fleming in "
    "1928 when he noticed mould killing bacteria in a petri dish.",
    "The Rosetta Stone, found in Egypt in 1799, carries the same decree in hieroglyphic, "
    "demotic and ancient Greek scripts, which let scholars decipher hieroglyphs.",
    "Bitcoin is a decentralised digital currency introduced in 2009 by a person or group "
    "using the pseudonym Satoshi Nakamoto; transactions are recorded on a blockchain.",
    "The Sahara is the largest hot desert in the world, covering much of North Africa. "
    "Despite its dryness, it holds oases fed by underground aquifers.",
    "Octopuses have three hearts and blue blood, because their blood uses the copper-based "
    "protein haemocyanin to carry oxygen.",
    "The Mona Lisa, painted by Leonardo da Vinci in the early sixteenth century, hangs in "
    "the Louvre museum in Paris behind bulletproof glass.",
]

QUESTIONS: list[tuple[str, str]] = [
    ("Who created the Python programming language?", "Guido van Rossum"),
    ("How many hearts does an octopus have?", "three hearts"),
    ("Who discovered penicillin?", "Alexander Fleming"),
    ("How tall is the Eiffel Tower?", "330 metres"),
    ("Which bee behaviour tells other bees where flowers are?", "waggle dance"),
    ("Who first climbed Mount Everest?", "Tenzing Norgay"),
    ("Where is the Mona Lisa displayed?", "Louvre"),
    ("What allowed scholars to decipher hieroglyphs?", "Rosetta Stone"),
    ("Who invented Bitcoin?", "Satoshi Nakamoto"),
]

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question from this context only.\n\n{context}"),
        ("human", "{question}"),
    ]
)


def format_docs(docs: list[Document]) -> str:
    return "\n\n".join(d.page_content for d in docs)


@pytest.fixture(scope="module")
def minilm() -> Any:
    from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings()


@pytest.fixture(scope="module")
def rag_store(backend: Backend, minilm: Any) -> Iterator[MilvusVectorStore]:
    store = MilvusVectorStore(
        embedding=minilm,
        uri=backend.uri,
        token=backend.token or None,
        collection_name=new_name("lcchain"),
        retrieval_mode="hybrid",
    )
    store.add_texts(CORPUS, [{"n": i} for i in range(len(CORPUS))])
    yield store
    store.drop()
    store.close()


def _chain(retriever: Runnable[str, list[Document]], seen: list[str]) -> Runnable[str, str]:
    answers = [f"answer {i}" for i in range(len(QUESTIONS))]

    def tap(prompt: PromptValue) -> PromptValue:
        seen.append(prompt.to_string())
        return prompt

    model = FakeListChatModel(responses=answers)
    setup = {"context": retriever | RunnableLambda(format_docs), "question": RunnablePassthrough()}
    return setup | PROMPT | RunnableLambda(tap) | model | StrOutputParser()


def test_hybrid_top4_contains_the_answers(rag_store: MilvusVectorStore) -> None:
    retriever = HybridRetriever(vectorstore=rag_store, k=4)
    for question, answer in QUESTIONS:
        context = format_docs(retriever.invoke(question))
        assert answer in context, (question, context)


async def test_chain_invoke_ainvoke_astream(rag_store: MilvusVectorStore) -> None:
    for retriever in (
        rag_store.as_retriever(search_type="hybrid", search_kwargs={"k": 4}),
        HybridRetriever(vectorstore=rag_store, k=4),
    ):
        seen: list[str] = []
        chain = _chain(retriever, seen)
        for i, (question, answer) in enumerate(QUESTIONS):
            assert chain.invoke(question) == f"answer {i}"
            assert answer in seen[-1] and question in seen[-1]
        chain = _chain(retriever, seen)
        for i, (question, answer) in enumerate(QUESTIONS):
            assert await chain.ainvoke(question) == f"answer {i}"
            assert answer in seen[-1]
        chain = _chain(retriever, seen)
        question, answer = QUESTIONS[0]
        chunks = [c async for c in chain.astream(question)]
        assert len(chunks) > 1 and "".join(chunks) == "answer 0"
        assert answer in seen[-1]
