"""A search engine for argilla-server 2.8 that reads the server's own SQL database (no Elasticsearch).

Importing this module registers it as "prefkit-sql"; select it with ARGILLA_SEARCH_ENGINE=prefkit-sql.
Writes are no-ops (the SQL rows are the index), reads are SQL queries with the semantics of the
Elasticsearch engine (argilla_server/search_engine/commons.py) where tests can notice them.
Written for SQLite (json_extract / json_each / json_tree); test infrastructure only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from argilla_server.database import AsyncSessionLocal, async_engine
from argilla_server.enums import MetadataPropertyType, SimilarityOrder, SortOrder
from argilla_server.models import Dataset, MetadataProperty, Question, Record, Response, Suggestion, User, VectorSettings
from argilla_server.search_engine.base import (AndFilter, Filter, FilterScope, FloatMetadataMetrics,
                                               IntegerMetadataMetrics, MetadataFilterScope, MetadataMetrics, Order,
                                               RangeFilter, RecordFilterScope, ResponseFilterScope, SearchEngine,
                                               SearchResponseItem, SearchResponses, SuggestionFilterScope, TermsFilter,
                                               TermsMetrics, TextQuery)
from sqlalchemy import String, and_, cast, event, exists, false, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

ENGINE_NAME = "prefkit-sql"
_RECORD_COLUMNS = {
    "id": Record.id,
    "external_id": Record.external_id,
    "status": Record.status,
    "inserted_at": Record.inserted_at,
    "updated_at": Record.updated_at,
}


@event.listens_for(async_engine.sync_engine, "connect")
def _register_sql_functions(dbapi_connection: Any, _: Any) -> None:
    # SQLite's lower() only folds ASCII: text queries compare Python-casefolded strings instead
    casefold = lambda value: value.casefold() if isinstance(value, str) else value  # noqa: E731
    dbapi_connection.create_function("prefkit_casefold", 1, casefold, deterministic=True)


def _path(*keys: str) -> str:
    """JSON path with quoted keys, so names with dots or spaces work: $."a"."b"."""
    return "$" + "".join("." + json.dumps(key) for key in keys)


def _like_pattern(term: str) -> str:
    escaped = term.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _to_datetime(value: float | str) -> datetime:
    """Range bounds on dates: ISO strings or epoch milliseconds (as ES reads numbers); naive UTC like the DB."""
    if isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _match(column: Any, filter: TermsFilter | RangeFilter, convert=lambda v: v) -> ColumnElement[bool]:
    """`column IN values` or `ge <= column <= le`."""
    if isinstance(filter, TermsFilter):
        return column.in_([convert(value) for value in filter.values])
    if isinstance(filter, RangeFilter):
        bounds = []
        if filter.ge is not None:
            bounds.append(column >= convert(filter.ge))
        if filter.le is not None:
            bounds.append(column <= convert(filter.le))
        return and_(true(), *bounds)
    raise ValueError(f"Cannot process filter {filter}")


def _json_match(document: Any, path: str, filter: TermsFilter | RangeFilter) -> ColumnElement[bool]:
    """Match a JSON value that may be a scalar or a list (any element matches, as in ES)."""
    items = func.json_each(document, path).table_valued("value").alias("items")
    # terms values arrive as strings: compare the text form, so integer metadata 3 matches "3"
    column = cast(items.c.value, String) if isinstance(filter, TermsFilter) else items.c.value
    return exists(select(1).select_from(items).where(_match(column, filter)))


@SearchEngine.register(engine_name=ENGINE_NAME)
class PrefkitSQLSearchEngine(SearchEngine):
    @classmethod
    async def new_instance(cls) -> PrefkitSQLSearchEngine:
        return cls()

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {"distribution": ENGINE_NAME, "version": "1", "description": "SQL reads on the argilla database"}

    # --- writes: the database rows are the index, nothing to do -------------------------------------

    async def create_index(self, dataset: Dataset) -> None:
        pass

    async def delete_index(self, dataset: Dataset) -> None:
        pass

    async def configure_metadata_property(self, dataset: Dataset, metadata_property: MetadataProperty) -> None:
        pass

    async def configure_index_vectors(self, vector_settings: VectorSettings) -> None:
        pass

    async def index_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def partial_record_update(self, record: Record, **update: Any) -> None:
        pass

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def update_record_response(self, response: Response) -> None:
        pass

    async def delete_record_response(self, response: Response) -> None:
        pass

    async def update_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    async def delete_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    # --- reads -------------------------------------------------------------------------------------

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        query = select(Record.status, func.count()).where(Record.dataset_id == dataset.id).group_by(Record.status)
        counts = {str(status): count for status, count in await self._rows(query)}
        return {"total": sum(counts.values()), "completed": counts.get("completed", 0), "pending": counts.get("pending", 0)}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        query = (
            select(Response.status, func.count())
            .join(Record, Record.id == Response.record_id)
            .where(Record.dataset_id == dataset.id, Response.user_id == user.id)
            .group_by(Response.status)
        )
        counts = {str(status): count for status, count in await self._rows(query)}
        return {"total": sum(counts.values()), **counts}

    async def search(
        self,
        dataset: Dataset,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        sort: list[Order] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: str | None = None,
    ) -> SearchResponses:
        # user_id seeds a per-user random order in ES; here the order stays deterministic (inserted_at, id)
        where = [Record.dataset_id == dataset.id]
        if query is not None:
            where.append(self._text_condition(query))
        if filter is not None:
            where.append(self._filter_condition(filter))

        order_by = [self._order_expression(order) for order in sort or []]
        order_by += [Record.inserted_at.asc(), Record.id.asc()]

        async with AsyncSessionLocal() as db:
            total = (await db.execute(select(func.count()).select_from(Record).where(*where))).scalar_one()
            ids = (await db.execute(select(Record.id).where(*where).order_by(*order_by).offset(offset).limit(limit))).scalars()
            score = 1.0 if query is not None else None
            return SearchResponses(items=[SearchResponseItem(record_id=id, score=score) for id in ids], total=total)

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: list[float] | None = None,
        record: Record | None = None,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        raise NotImplementedError(f"similarity (vector) search is not supported by the {ENGINE_NAME!r} test search engine")

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        in_dataset = Record.dataset_id == metadata_property.dataset_id
        path = _path(metadata_property.name)

        if metadata_property.type == MetadataPropertyType.terms:
            # a terms value may be a list: every element counts, as in ES
            items = func.json_each(Record.metadata_, path).table_valued("value").alias("items")
            count = func.count().label("count")
            query = select(items.c.value, count).select_from(Record, items).where(in_dataset)
            rows = await self._rows(query.group_by(items.c.value).order_by(count.desc(), items.c.value))
            values = [TermsMetrics.TermCount(term=str(term), count=n) for term, n in rows]
            return TermsMetrics(total=sum(v.count for v in values), values=values)

        value = func.json_extract(Record.metadata_, path)
        ((low, high),) = await self._rows(select(func.min(value), func.max(value)).where(in_dataset))
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(min=low, max=high)
        return FloatMetadataMetrics(min=low, max=high)

    # --- SQL building --------------------------------------------------------------------------------

    @staticmethod
    async def _rows(query: Any) -> list:
        async with AsyncSessionLocal() as db:
            return list((await db.execute(query)).all())

    @staticmethod
    def _text_condition(query: TextQuery | str) -> ColumnElement[bool]:
        """Every whitespace-separated term (ES's default_operator AND) is a case-insensitive substring of
        some text value of the record's fields (or of one field; chat fields match message contents)."""
        if isinstance(query, str):
            query = TextQuery(q=query)
        path = _path(query.field) if query.field else "$"
        conditions = []
        for term in query.q.split() or [""]:
            leaves = func.json_tree(Record.fields, path).table_valued("value", "type").alias("leaves")
            conditions.append(
                exists(
                    select(1)
                    .select_from(leaves)
                    .where(leaves.c.type == "text", func.prefkit_casefold(leaves.c.value).like(_like_pattern(term), escape="\\"))
                )
            )
        return and_(*conditions)

    def _filter_condition(self, filter: Filter) -> ColumnElement[bool]:
        if isinstance(filter, AndFilter):
            return and_(true(), *[self._filter_condition(f) for f in filter.filters])

        scope = filter.scope
        if isinstance(scope, RecordFilterScope):
            column = _RECORD_COLUMNS.get(scope.property)
            if column is None:
                raise ValueError(f"Cannot filter on record property {scope.property!r}")
            convert = {"id": UUID, "inserted_at": _to_datetime, "updated_at": _to_datetime}.get(scope.property, str)
            return _match(column, filter, convert)
        if isinstance(scope, MetadataFilterScope):
            return _json_match(Record.metadata_, _path(scope.metadata_property), filter)
        if isinstance(scope, SuggestionFilterScope):
            return self._suggestion_condition(scope, filter)
        if isinstance(scope, ResponseFilterScope):
            if scope.question:
                values = _json_match(Response.values, _path(scope.question, "value"), filter)
                return self._response_exists(scope.user, values)
            if scope.property == "status" and isinstance(filter, TermsFilter):
                return self._response_status_condition(filter.values, scope.user)
        raise ValueError(f"Cannot process filter {filter}")

    @staticmethod
    def _response_exists(user: User | None, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        """A response of the record (by `user` when given) that satisfies all conditions."""
        where = [Response.record_id == Record.id, *conditions]
        if user is not None:
            where.append(Response.user_id == user.id)
        return exists(select(1).where(*where))

    def _response_status_condition(self, values: list[str], user: User | None) -> ColumnElement[bool]:
        """As ES's _response_status_filter_to_es_filter: "pending" = no response by the user (by anyone
        without a user); other statuses = a response by the user with that status."""
        statuses = [value for value in values if value != "pending"]
        conditions = []
        if "pending" in values:
            conditions.append(not_(self._response_exists(user)))
        if statuses:
            conditions.append(self._response_exists(user, Response.status.in_(statuses)))
        return or_(false(), *conditions)

    @staticmethod
    def _suggestion_condition(scope: SuggestionFilterScope, filter: TermsFilter | RangeFilter) -> ColumnElement[bool]:
        if scope.property in ("value", "score"):
            matched = _json_match(getattr(Suggestion, scope.property), "$", filter)
        elif scope.property in ("agent", "type"):
            matched = _match(getattr(Suggestion, scope.property), filter)
        else:
            raise ValueError(f"Cannot filter on suggestion property {scope.property!r}")
        return exists(
            select(1)
            .select_from(Suggestion)
            .join(Question, Question.id == Suggestion.question_id)
            .where(Suggestion.record_id == Record.id, Question.name == scope.question, matched)
        )

    @staticmethod
    def _order_expression(order: Order) -> Any:
        scope: FilterScope = order.scope
        if isinstance(scope, RecordFilterScope) and scope.property in _RECORD_COLUMNS:
            column = _RECORD_COLUMNS[scope.property]
        elif isinstance(scope, MetadataFilterScope):
            column = func.json_extract(Record.metadata_, _path(scope.metadata_property))
        else:
            raise ValueError(f"The {ENGINE_NAME!r} test search engine cannot sort by {scope}")
        # ES puts documents without a value last in both directions
        return (column.desc() if order.order == SortOrder.desc else column.asc()).nulls_last()
