"""What a deep autoencoder does to an image: `streamlit run app.py`.

The app lives in the `explorer` package (explorer.page lays the page out); the models, codec
and scores it shows come from the `autoencoder` library, the same code the CLI, eval and bench
run.
"""

from autoencoder.hardware import return_free_memory_soon
from explorer.page import main
from explorer.state import LANE

if __name__ != "__mp_main__":  # a multiprocessing child that re-imports this script (spawn) draws no page
    try:
        with LANE.foreground():  # guesses for the next move, and the gallery's, wait until this run is drawn
            main()
    finally:
        return_free_memory_soon()  # a second after the last run: what the runs freed goes back to the system
