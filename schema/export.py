"""`python -m schema.export` prints the schema in SDL; `make schema` writes it to schema.graphql."""

from schema import build_schema


def printed_schema() -> str:
    return build_schema().as_str() + "\n"


if __name__ == "__main__":
    print(printed_schema(), end="")
