"""What the suite proves: each promise is a mark on the tests that prove it (kit/promises.py reads the marks without
importing the tests), in a known layer, and docs/promises.md is what the marks render."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kit.promises import PAGE, PromiseError, problems, promises, read_suite, render
from kit.template import TEMPLATE_DIR

# The tests that proved no promise of the table in CONTRIBUTING.md when its rows became marks: checks of the suite's
# own kit and of the benchmark's report details, and promises still to be written down. The list only shrinks: a test
# written since carries a promise.
WITHOUT_A_PROMISE = frozenset(
    {
        "tests/test_answer_fuzz.py::test_the_words_plainly_valid_names_start_with_are_no_keywords_or_standard_library_modules",
        "tests/test_bench_report.py::test_measurement_rows_give_the_median_and_the_range_over_runs",
        "tests/test_bench_report.py::test_throughput_rows_give_rounds_range_and_per_round_ratios",
        "tests/test_bench_report.py::test_a_single_round_says_it_has_no_spread",
        "tests/test_bench_report.py::test_a_clean_run_keeps_its_promises",
        "tests/test_bench_report.py::test_a_time_over_its_target_is_reported_and_the_table_names_the_target",
        "tests/test_bench_report.py::test_memory_and_slow_clients_get_a_row_per_server_measured",
        "tests/test_bench_report.py::test_a_generated_service_that_leaves_a_steady_client_unanswered_fails_the_run",
        "tests/test_bench_report.py::test_wrk_failures_are_not_throughput",
        "tests/test_bench_report.py::test_splice_replaces_only_the_section",
        "tests/test_bench_report.py::test_a_page_without_markers_is_refused",
        "tests/test_bench_report.py::test_rendered_markdown_lints_clean",
        "tests/test_bench_report.py::test_every_server_and_measurement_of_the_tables_gets_its_row",
        "tests/test_bench_report.py::test_only_the_committed_results_rewrite_the_benchmark_page",
        "tests/test_bench_report.py::test_a_bad_option_is_refused_with_what_is_valid",
        "tests/test_compose_file.py::test_each_service_starts_once_its_migrations_ran_on_its_own_database",
        "tests/test_default_python.py::test_without_any_offered_python_the_default_is_the_newest_offered",
        "tests/test_default_python.py::test_a_service_with_every_default_locks_installs_and_passes_its_tests",
        "tests/test_deploy_files.py::test_each_database_component_gives_the_deployment_what_its_database_needs",
        "tests/test_deploy_files.py::test_dependabot_can_read_the_base_image",
        "tests/test_documents.py::test_the_service_readme_has_the_intended_sections",
        "tests/test_documents.py::test_the_service_readme_names_the_resource_without_a_wrong_article",
        "tests/test_documents.py::test_the_description_is_not_followed_by_a_sentence_that_repeats_it",
        "tests/test_documents.py::test_every_rendered_text_file_is_tidy",
        "tests/test_example_system.py::test_the_bill_of_materials_names_the_shared_package_with_the_locked_runtime",
        "tests/test_generation.py::test_the_combinations_hold_every_pair_of_answer_values",
        "tests/test_generation.py::test_a_combination_the_template_cannot_render_is_refused",
        "tests/test_generation.py::test_each_file_the_answers_choose_is_in_the_template",
        "tests/test_generation.py::test_pyproject_declares_what_the_answers_say",
        "tests/test_generation.py::test_a_resources_table_is_its_plural",
        "tests/test_generation.py::test_free_text_answers_arrive_intact",
        "tests/test_kit.py::test_the_tests_of_a_group_share_one_worker_and_the_groups_spread_over_two",
        "tests/test_kit.py::test_a_bake_leaves_nothing_in_the_temporary_directory_refused_or_not",
        "tests/test_kit.py::test_a_bakes_answers_and_derived_names_are_the_ones_its_files_were_rendered_with",
        "tests/test_observability.py::test_make_run_logs_json_too",
        "tests/test_one_source.py::test_the_root_test_group_pins_what_the_updater_runs_with",
        "tests/test_one_source.py::test_rendered_files_pin_each_tool_as_cookiecutter_json_says",
        "tests/test_one_source.py::test_templates_take_dependency_ranges_from_cookiecutter_json",
        "tests/test_one_source.py::test_each_service_lists_the_ranges_cookiecutter_json_gives",
        "tests/test_pythons.py::test_in_a_python_container_the_service_locks_installs_and_passes_its_tests_and_lint",
        "tests/test_pythons.py::test_the_image_for_each_python_builds_and_serves",
        "tests/test_service_under_load.py::test_the_openapi_document_is_served",
        "tests/test_services.py::test_generation_says_what_it_locks_and_leaves_no_virtual_environment",
        "tests/test_team_project.py::test_the_documented_commands_run_the_team_project_as_written",
        "tests/test_update.py::test_a_relative_template_path_is_recorded_relative_to_the_service",
        "tests/test_update.py::test_update_renders_neither_lock_nor_write_a_record",
        "libs/discount_calculator/tests/test_calculator.py::test_a_seeded_generator_gives_a_repeatable_sequence",
        "libs/discount_calculator/tests/test_calculator.py::test_forked_processes_draw_different_discounts",
    }
)


@pytest.mark.promise(
    "Every promise is a mark on its tests, in a known layer; the page of promises is what the marks say",
    layer="offline",
)
def test_every_promise_is_on_a_test_in_a_known_layer() -> None:
    suite = read_suite(TEMPLATE_DIR)

    assert promises(suite), "no test carries a promise"
    # A promise on no test (a helper's, a module's without tests), or in a layer not in LAYERS, or in two.
    assert problems(suite) == []


@pytest.mark.promise(
    "Every promise is a mark on its tests, in a known layer; the page of promises is what the marks say",
    layer="offline",
)
def test_the_committed_page_of_promises_is_what_the_marks_render() -> None:
    assert (TEMPLATE_DIR / PAGE).read_text() == render(read_suite(TEMPLATE_DIR)), f"{PAGE} is stale: run `make docs`"


@pytest.mark.promise(
    "Every promise is a mark on its tests, in a known layer; the page of promises is what the marks say",
    layer="offline",
)
def test_every_test_carries_a_promise_or_is_knowingly_without_one() -> None:
    suite = read_suite(TEMPLATE_DIR)
    promised = {mark.test for mark in suite.marks}

    unpromised = sorted(set(suite.tests) - promised - WITHOUT_A_PROMISE)
    assert not unpromised, "tests without a promise: give each a @pytest.mark.promise(...)\n" + "\n".join(unpromised)
    stale = sorted(WITHOUT_A_PROMISE - (set(suite.tests) - promised))
    assert not stale, "in WITHOUT_A_PROMISE, yet gone or promising: take them out\n" + "\n".join(stale)


def write_suite(root: Path, module: str) -> None:
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    (root / "tests").mkdir()
    (root / "tests" / "test_things.py").write_text(textwrap.dedent(module))


@pytest.mark.promise(
    "Every promise is a mark on its tests, in a known layer; the page of promises is what the marks say",
    layer="offline",
)
def test_the_reader_places_module_wide_and_own_promises_and_refuses_any_other(tmp_path: Path) -> None:
    write_suite(
        tmp_path,
        """\
        import pytest

        pytestmark = [pytest.mark.network, pytest.mark.promise("Every test here serves it", layer="install")]
        HIDDEN = pytest.mark.promise("Bound to a name", layer="offline")


        @pytest.mark.promise("One test's own", layer="offline")
        @pytest.mark.parametrize("x", [1, 2])
        def test_one(x): ...


        def test_two(): ...


        @pytest.mark.promise("On a helper", layer="offline")
        def helper(): ...


        @pytest.mark.promise("Run every night", layer="nightly")
        def test_three(): ...
        """,
    )
    suite = read_suite(tmp_path)

    assert suite.tests == [f"tests/test_things.py::test_{n}" for n in ("one", "two", "three")]
    assert {text: [mark.test.split("::")[1] for mark in marks] for text, marks in promises(suite).items()} == {
        "Every test here serves it": ["test_one", "test_two", "test_three"],
        "One test's own": ["test_one"],
        "Run every night": ["test_three"],
    }
    with pytest.raises(PromiseError) as refused:
        render(suite)
    assert str(refused.value).splitlines() == [
        "tests/test_things.py:15: a promise on helper, which is not a test",
        "tests/test_things.py:4: a promise mark goes on a test function's decorators or in pytestmark",
        "tests/test_things.py:19: layer 'nightly' is not one of offline, install, example, docker, update",
    ]


@pytest.mark.promise(
    "Every promise is a mark on its tests, in a known layer; the page of promises is what the marks say",
    layer="offline",
)
def test_a_promise_whose_text_is_not_a_literal_is_refused_in_one_line(tmp_path: Path) -> None:
    write_suite(
        tmp_path,
        """\
        import pytest

        TEXT = "Proved somewhere"


        @pytest.mark.promise(TEXT, layer="offline")
        def test_one(): ...
        """,
    )

    with pytest.raises(PromiseError, match=r"^tests/test_things.py:6: a promise's text must be a string literal"):
        read_suite(tmp_path)
