"""How a message names an argument: the Python keyword from the API, the flag inside a command."""

from ganeval.errors import arg, cli_wording, given, speaking_cli


def test_python_keywords_outside_a_command():
    assert not speaking_cli()
    assert [arg("n"), arg("pixel_range"), arg("output")] == ["n", "pixel_range", "output"]
    assert [given("resize"), given("resume", False), given("pixel_range", "0,1")] == \
        ["resize=True", "resume=False", "pixel_range='0,1'"]


def test_flags_inside_a_command_and_per_command_spellings():
    with cli_wording():
        assert speaking_cli()
        assert [arg("n"), arg("pixel_range"), arg("output"), arg("set_pairs"), arg("plugins")] == \
            ["-n/--samples", "--pixel-range", "-o", "--set", "--plugin"]
        assert [given("resize"), given("resume", False), given("pixel_range", "0,1")] == \
            ["--resize", "--no-resume", "--pixel-range 0,1"]
        with cli_wording(output="--baseline"):  # check --update writes its --baseline
            assert arg("output") == "--baseline"
        assert arg("output") == "-o"
    assert not speaking_cli() and arg("output") == "output"


def test_the_wording_is_restored_after_an_error():
    try:
        with cli_wording():
            raise ValueError("inside")
    except ValueError:
        pass
    assert arg("n") == "n"
