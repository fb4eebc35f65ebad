"""The retrievers in LCEL chains, end to end offline with langchain-core's fake chat model."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_helpers import BagOfWordsEmbeddings, corpus

from svm_retrievers.langchain import SVMReranker, SVMRerankingRetriever, SVMRetriever


def format_docs(docs: list[Document]) -> str:
    return "\n".join(f"[{d.id} svm={d.metadata['svm_score']:.4f}] {d.page_content}" for d in docs)


class PromptRecorder(BaseCallbackHandler):
    """Keeps the messages each chat model call received."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.prompts.extend("\n".join(str(m.content) for m in batch) for batch in messages)


def test_retriever_format_prompt_llm_chain():
    retriever = SVMRetriever.from_documents(corpus(), BagOfWordsEmbeddings(), k=2)
    prompt = ChatPromptTemplate.from_template("Answer from this context only:\n{context}")
    llm = FakeListChatModel(responses=["Bake it in a hot oven."])
    chain = retriever | format_docs | prompt | llm | StrOutputParser()
    recorder = PromptRecorder()
    answer = chain.invoke("how long to bake bread in the oven", config={"callbacks": [recorder]})
    assert answer == "Bake it in a hot oven."
    (sent,) = recorder.prompts
    top = retriever.invoke("how long to bake bread in the oven")
    assert len(top) == 2 and top[0].id == "t3"
    assert format_docs(top) in sent  # the ranked documents, scores and all, reached the model


async def test_rag_chain_with_bound_options_batch_and_async():
    retriever = SVMRetriever.from_documents(corpus(), BagOfWordsEmbeddings())
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Context:\n{context}"), ("human", "{question}")]
    )
    llm = FakeListChatModel(responses=["one", "two", "three"])
    context = retriever.bind(k=1, mode="hybrid", filter={"topic": "space"}) | format_docs
    chain = (
        {"context": context, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()
    )
    recorder = PromptRecorder()
    questions = ["rocket orbit", "moon landing", "distant galaxy"]
    answers = await chain.abatch(questions, config={"callbacks": [recorder]})
    assert sorted(answers) == ["one", "three", "two"]
    assert len(recorder.prompts) == 3
    for question in questions:
        (doc,) = retriever.invoke(question, k=1, mode="hybrid", filter={"topic": "space"})
        assert any(doc.page_content in p and question in p for p in recorder.prompts)
    # Only one space document per prompt: k=1 and the filter reached the retriever.
    space = [d.page_content for d in corpus() if d.metadata["topic"] == "space"]
    assert all(sum(text in p for text in space) == 1 for p in recorder.prompts)


def test_reranking_retriever_in_a_chain():
    embedding = BagOfWordsEmbeddings()
    store = InMemoryVectorStore(embedding)
    store.add_documents(corpus())
    retriever = SVMRerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": 6}),
        reranker=SVMReranker(embedding=embedding, top_n=2),
    )
    prompt = ChatPromptTemplate.from_template("{context}")
    chain = (
        retriever | format_docs | prompt | FakeListChatModel(responses=["ok"]) | StrOutputParser()
    )
    recorder = PromptRecorder()
    assert chain.invoke("garlic tomato sauce", config={"callbacks": [recorder]}) == "ok"
    assert recorder.prompts == [format_docs(retriever.invoke("garlic tomato sauce"))]
